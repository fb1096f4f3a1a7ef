"""Sensors: the Sensor manifest model (``sensors.spec``); matching and firing come later."""
