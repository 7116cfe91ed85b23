"""The delegation worker: POSTs each ended task's outcome to its callback URL, signed as Standard Webhooks describes."""
