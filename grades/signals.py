"""Signals of the freeze, for whoever shows its progress (the freeze commands)."""

from django.dispatch import Signal

# Sent once per chunk of a round that finishes, with `grading_status` as it stands
# after counting it (chunks_done of chunks_total, `listed` once every chunk is known).
chunk_finished = Signal()
