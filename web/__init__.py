"""Static files of the browser client and the presenter console, served by the gateway."""
