"""Thin adapters that mount wxpay-mw's endpoints into web frameworks.

Each module imports its framework; nothing here is imported by ``wxpay_mw`` itself.
"""
