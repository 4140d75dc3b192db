"""Loan applications and loans: the 310 flow's records and the lending history."""
