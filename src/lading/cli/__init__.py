"""Thin command-line front ends (lading.cli.args for the runtime verbs): parse, call one function, print."""
