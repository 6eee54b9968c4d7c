FROM mcr.microsoft.com/dotnet/sdk:8.0@sha256:00000000000000000000000000000000000000000000000000000000000000d0 AS build
WORKDIR /src
COPY *.csproj .
RUN dotnet restore
COPY . .
RUN dotnet publish -c Release -o /app \
    --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:8.0@sha256:00000000000000000000000000000000000000000000000000000000000000d1
LABEL org.opencontainers.image.title="web" \
      org.opencontainers.image.vendor=Acme
WORKDIR /app
COPY --from=build /app .
ENTRYPOINT ["dotnet", "Web.dll"]
