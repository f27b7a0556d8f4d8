"""Thin argparse front ends: parse, call one function, print."""
