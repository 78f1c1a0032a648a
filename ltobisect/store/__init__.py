"""What is on disk: the journal of builds, the state directory, the locks."""
