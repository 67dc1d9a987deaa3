"""The secretariat's web console (事務局コンソール): `setup.init_app` installs it on an app."""
