"""`proactive doctor`: does this install work? (build, decode, models, dirs, extras).

`build.py` uses the standard library only, so set-up can run the build check in a venv
that holds nothing but llama-cpp-python; `report.py` gathers every check for the CLI.
"""
