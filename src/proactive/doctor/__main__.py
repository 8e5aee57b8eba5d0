"""`python -m proactive.doctor --build-check`: the llama.cpp build check used by scripts/setup.sh."""

import sys

from proactive.doctor.build import main

sys.exit(main())
