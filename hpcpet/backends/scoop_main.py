"""Entry script for ``python -m scoop ... scoop_main.py VERB ...``: the hpcpet command line under SCOOP.

SCOOP runs a script file, not a module; the SCOOP backend starts this file
to re-run ``python -m hpcpet VERB ...`` inside a SCOOP pool.
"""
from hpcpet.cli import main

if __name__ == "__main__":
    main()
