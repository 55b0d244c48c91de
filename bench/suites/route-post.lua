-- wrk script of the realistic route (see bench/servers/route-spec.ts): POST a JSON body to
-- /api/users/<id>, the id cycling through 1000 values so no router sees one URL only.
-- The suite passes the body and the token in the environment, so they are written down once.
wrk.method = "POST"
wrk.body = os.getenv("ROUTE_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("ROUTE_AUTH")

local n = 0
request = function()
  n = (n + 1) % 1000
  return wrk.format(nil, "/api/users/" .. n)
end
