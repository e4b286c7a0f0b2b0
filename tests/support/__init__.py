"""Process and account helpers shared by the test suites."""
