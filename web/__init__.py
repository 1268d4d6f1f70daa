"""The Flask application: blueprints per audience, forms, static assets."""
