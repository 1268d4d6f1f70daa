"""Outgoing e-mail: templates rendered and sent by the worker, every mail with its status."""
