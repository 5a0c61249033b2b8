"""`python -m vidgru` runs the command-line interface."""

from vidgru.cli import main

if __name__ == "__main__":
    main()
