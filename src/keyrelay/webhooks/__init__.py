"""Webhooks out: endpoints, Standard Webhooks signing, fan-out from the outbox, delivery with retries.

Importing ``keyrelay.webhooks.events`` registers the fan-out handlers with the
outbox; the worker does so, and ``delivery.deliver_due`` sends what they queue.
"""
