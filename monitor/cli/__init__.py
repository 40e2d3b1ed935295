"""The delivermon command line."""
