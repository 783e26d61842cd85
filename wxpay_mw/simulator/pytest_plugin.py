"""pytest fixtures that run the WeChat simulator for a host app's own tests."""
