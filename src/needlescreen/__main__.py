"""``python -m needlescreen``: the same command line as the ``needlescreen`` script."""

from needlescreen.cli import main

if __name__ == "__main__":
    main()
