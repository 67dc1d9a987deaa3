"""Public pages: no login, no cookies, nothing personal (the community's numbers)."""
