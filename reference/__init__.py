"""Instructor's reference solutions; the truth every grade is measured against. Knows nothing of grading."""
