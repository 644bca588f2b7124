"""State shared by the forked worker processes of one run: anonymous shared memory, made when this module is
imported. The task modules import it, so it exists before luigi forks its workers; library code that loads
later inside a worker (the substructure code that calls FastJet loads in ``run()``) reads and sets the same
bytes."""
from __future__ import annotations

import mmap

# byte 0 becomes 1 once a process of this run has let FastJet print its banner (the others silence it)
FASTJET_BANNER = mmap.mmap(-1, 1)
