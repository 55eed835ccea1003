"""The cross-domain workflows: what happens in one app because something happened in another."""
