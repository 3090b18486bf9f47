"""The production topology as local processes on loopback; see launcher.py and `python -m stack`."""
