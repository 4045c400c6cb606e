"""The platform network: virtual network, subnets, and private endpoints with their DNS."""
