"""Numbers about the community: the public ones (/stats) and the secretariat's dashboard.

Counted from the database when asked (and cached by the caller); nothing here knows the web.
"""
