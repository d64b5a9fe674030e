"""The combined API reference of the whole platform: merged documents and the app serving them."""
