"""Plumbing both servers share (settings files, SQLite connections, staff accounts).

node and central never import each other; both import domain, protocol and this package.
"""
