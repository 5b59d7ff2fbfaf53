"""The hidden test suites, one folder per part; each knows the CNN assignment, none knows processes."""
