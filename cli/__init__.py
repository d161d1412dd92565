"""The ``petadesa`` command line: thin wrappers around geo/ (and later maps/ and api/)."""
