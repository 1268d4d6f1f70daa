"""Postcodes to places: an offline PC4 geocoder, and an optional PDOK one for full addresses."""
