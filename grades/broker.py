"""What the broker holds: whether chunks sent to the workers may still be waiting there.

A chunk never delivered is either queued (behind other work, maybe for long) or lost
(Redis restarted without its messages, or the worker that had reserved it died). The
database cannot tell which; the queue can: while it holds messages, the round waits.
"""

import logging

from celery import current_app
from kombu.exceptions import ChannelError

log = logging.getLogger(__name__)


def queue_holds_messages() -> bool:
    """Whether the queue that freeze tasks are sent to holds any message.

    True too when the broker cannot be asked: nothing can be sent to it then anyway,
    and a round taken as lost would be sent twice once it answers.
    """
    queue = current_app.conf.task_default_queue
    try:
        with current_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1)
            try:
                declared = connection.default_channel.queue_declare(queue=queue, passive=True)
            except ChannelError:  # no such queue: an empty one, on Redis
                return False
            return declared.message_count > 0
    except Exception as error:  # whatever the transport raises when the broker is away
        log.warning("the broker could not say whether %s holds messages: %s", queue, error)
        return True
