"""Hardware-in-the-loop measurement: campaigns (campaign.py, designs.py) into a SQLite database (db.py),
cost-model refinement from it (refine.py) and the HTML report (report.py)."""
