"""Declared state machines that decide admission from driver events."""
