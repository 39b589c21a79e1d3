"""Inception Explorer: build Inception networks from data, count them, and see why they are built that way."""
