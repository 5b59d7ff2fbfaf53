"""Student handout: the files to complete, one function at a time, guided by cnn_assignment.ipynb."""
