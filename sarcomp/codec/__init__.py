"""Codecs: the classic image codecs behind one interface (``classic``)."""
