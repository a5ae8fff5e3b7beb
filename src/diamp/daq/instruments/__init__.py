"""Instrument drivers (SCPI over pyvisa; simulated backends through pyvisa-sim)."""
