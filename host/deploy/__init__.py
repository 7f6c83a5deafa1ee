"""Deployment over SSH (``sustainml-deploy``): inventory, connections, push, and per-board actions.

Host side of the HALF flow's deploy stage; the board side is :mod:`sustainml.board.agent`.
"""
