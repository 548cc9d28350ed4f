"""Thin HTTP entry points: parse, authorize, call one service, render."""
