"""Python-side halves of the command-line programs."""
