"""The secretariat's console accounts: users and roles, passwords, login throttling, sessions."""
