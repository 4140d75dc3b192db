"""Financing demands (银企对接): posting, pushing to fitting banks, first-claim-wins
claims, contact and outcome, the working-day overdue sweep."""
