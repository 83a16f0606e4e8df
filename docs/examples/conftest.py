import sys
from pathlib import Path

# The examples import the small application module beside them.
sys.path.insert(0, str(Path(__file__).parent))
