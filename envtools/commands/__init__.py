"""One module per command: argument parsing and exit statuses, no policy.

Each module's ``main`` handles the plain forms by hand and builds the click
command only when an option is given, so the start-up path of a service does
not pay for importing click.
"""
