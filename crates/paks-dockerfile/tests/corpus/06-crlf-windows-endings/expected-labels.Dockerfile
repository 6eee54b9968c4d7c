FROM mcr.microsoft.com/dotnet/sdk:8.0 AS build
LABEL org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/sdk:8.0" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
WORKDIR /src
COPY *.csproj .
RUN dotnet restore
COPY . .
RUN dotnet publish -c Release -o /app \
    --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:8.0
LABEL org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/aspnet:8.0" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d1"
LABEL org.opencontainers.image.title="web" \
      org.opencontainers.image.vendor=Acme
WORKDIR /app
COPY --from=build /app .
ENTRYPOINT ["dotnet", "Web.dll"]
