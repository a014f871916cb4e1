"""Engines: the classic CPU engine and VOID on diffusers, behind one interface."""
