"""The poll loop: books fetched for the tracked tokens, handed to the store's writer."""
